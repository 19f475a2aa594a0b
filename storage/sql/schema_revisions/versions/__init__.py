"""The schema revisions, oldest first (`r0001_...`); each names its `down_revision`."""
