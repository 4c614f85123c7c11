"""The ``ltw-tf`` command line (click); thin commands over ``ltw_tf``."""
