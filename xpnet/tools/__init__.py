"""Tools on top of the library: the ``xpnet`` command line and the backend benchmark."""
