"""Lasso and elastic net by STRADS-scheduled parallel coordinate descent
over column-partitioned data (see :mod:`mpiml.lasso.solver`)."""
