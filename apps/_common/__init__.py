"""What the apps share: checkpoint I/O (:mod:`.checkpoint`)."""
