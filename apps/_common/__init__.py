"""What the apps share: checkpoint I/O (:mod:`.checkpoint`), the command-line error guard
(:mod:`.guard`), image and audio loading (:mod:`.media`)."""
