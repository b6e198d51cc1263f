"""The backups domain: nightly snapshots of every hub's home directories, checked fresh
and verified, restorable and migratable from the UI. The engine is hub_ops.backup."""
