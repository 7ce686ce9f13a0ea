"""Pure OSS client over ``requests``: no Airflow import anywhere in this package."""
