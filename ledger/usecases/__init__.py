"""Use cases, one mixin per concept, composed into `ledger.ledger.Ledger`."""
