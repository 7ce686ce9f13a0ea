"""``oss://`` for fsspec and Airflow's ``ObjectStoragePath`` (registered in the provider info)."""
