"""Backbone implementations (import torch). Configs and specs live in `fcdmbench.catalog`."""
