"""Webhooks (docs/webhooks.md): signed JSON POSTs when rooms change, are created, reset
or deleted, and when people join or leave them. `config` reads the settings and signs,
`debounce` decides when `room.changed` is due, `events` listens to the rooms,
`claims` makes each event go out once in a cluster, `delivery` sends with retries."""
