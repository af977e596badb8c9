"""Pretraining a small Tab2D on synthetic tables (the ``convert`` extra: torch).

:mod:`.prior` (numpy only) draws the tables, :mod:`.trainer` trains, :mod:`.evaluate` scores
on real tables, :mod:`.cli` is ``wlearn-mitra pretrain``. The built-in models in
``wlearn_mitra/data/`` were made with it; ``spec/builtin-models.md`` gives the command.
"""
