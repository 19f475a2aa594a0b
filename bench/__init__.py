"""samepage against its peers, side by side: `python -m bench` (see bench/README.md)."""
