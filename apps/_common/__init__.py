"""Helpers the applications share (command-line error guard, image and audio loading)."""
