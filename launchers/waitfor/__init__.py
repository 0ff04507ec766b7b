"""`kube-pmix-wait-for-pods`: the login pod's init container (see cli.py).

    pods    what a pod's state is and why, hostfile text and files, the error tree (pure)
    loop    the API loop: list, then watch, with retries within a hard deadline
    retry   which API errors are transient and how long to wait before the next try
    cli     the click command: messages and exit statuses

Imports point one way: cli -> loop -> pods, retry.
"""
