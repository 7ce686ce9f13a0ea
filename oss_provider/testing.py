"""Pytest plugin placeholder: the emulator fixture lands here (issue 4)."""
