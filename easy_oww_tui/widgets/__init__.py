"""Reusable widgets for the easy-oww app."""
