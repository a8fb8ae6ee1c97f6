"""Packaging: model flavors, save and digest-verified load, signatures, requirements.

A library with no store access: ``package.package_model`` turns a fitted model into bytes plus
metadata, ``package.load_packaged`` turns verified bytes back into a predictor that checks its
input against the signature. ``flavors`` is the registry of flavors.
"""
