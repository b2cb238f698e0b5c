"""Faust tables and the code that reads them."""
