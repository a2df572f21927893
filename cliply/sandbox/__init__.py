"""A local emulator of the nine platforms' APIs (and their OAuth), with fault injection, for tests and demos."""
