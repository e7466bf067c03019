"""Versioned prompt templates loaded from the shipped defaults and an optional mounted folder."""
