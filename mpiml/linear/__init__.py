"""Linear models trained by data-parallel SGD over a parameter table
(:mod:`mpiml.consistency`): logistic regression and linear SVMs."""
