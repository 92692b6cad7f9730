"""A person's rights over their data: a copy of everything held (export, PIPL Art. 45) and the
deletion of the account (注销, Art. 47)."""
