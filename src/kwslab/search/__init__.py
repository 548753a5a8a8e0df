"""Hyperparameter search on Optuna: spaces, studies, the manual method, comparison, LR finder.

``run_search`` runs one method (manual, grid, random, hyperband, bayesian) under a budget on
a storage that many workers can share; ``compare`` runs several under the same budget;
``lr_find`` is the learning-rate range test.
"""

from kwslab.errors import SearchError
from kwslab.search.space import Param, SearchSpace, load_space, parse_space
from kwslab.search.storage import config_from_trial
from kwslab.search.study import METHODS, Budget, SearchResult, run_search

__all__ = ["METHODS", "Budget", "Param", "SearchError", "SearchResult", "SearchSpace",
           "config_from_trial", "load_space", "parse_space", "run_search"]
