"""Studies of the check reader: measurements that explain its results rather than produce them
(e.g. what the digits allow). Each runs as ``python -m apps.check_reading.studies.<name>``;
their numbers are in docs/results/check-reading.md."""
