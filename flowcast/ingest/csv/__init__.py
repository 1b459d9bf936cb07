"""Importing real detector data from CSV files into a flowcast dataset."""
