"""Host-side edges: scikit-learn estimators, model files (io), datasets, plots and search.

They work on the host (NumPy, JSON, files) before data moves to a backend or after results
come back, and ask the models and tables in :mod:`xpnet.nn` for every fact they need.
"""
