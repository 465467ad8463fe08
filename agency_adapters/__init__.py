"""What each agency receives and how: the channels Pantau delivers feeds through
(``senders``) and reference receivers that agencies run or copy (``receivers``)."""
