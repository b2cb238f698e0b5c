"""HTTP views, served by every worker through Faust's web server (registered by :mod:`app.app`)."""
