"""syncbridge: join CRM and analytics records with DAM assets through one shared taxonomy."""

__version__ = "0.1.0"
