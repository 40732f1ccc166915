"""The Gần Dân system: the services it is made of. It may know every service; no service knows it."""
