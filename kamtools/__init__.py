"""kamtools: the Key Account Management analysis kit."""
__version__ = "0.1.0"
