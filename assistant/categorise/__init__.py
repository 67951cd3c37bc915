"""Complaint categorisation: the company's categories file, labelled examples people give, a classifier
learned from them, and the language model constrained to the allowed categories."""
