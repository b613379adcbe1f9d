"""Every domain operation lives here, one module per concern; each runs in one transaction."""
