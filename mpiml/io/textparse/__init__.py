"""Compiled parsers of text data blocks (numbers and lines), used by the
ratings, dense and LIBSVM readers of :mod:`mpiml.io`."""
