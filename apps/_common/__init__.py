"""What the apps share, a module each: checkpoint I/O, the command-line shape and error guard,
image and audio loading, the training loop, results tables, figures and the edit distance."""
