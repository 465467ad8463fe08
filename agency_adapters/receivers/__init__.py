"""Reference receivers of the feeds, which agencies run or copy."""
