"""What a release may ask of a cluster: Pod Security Standards on every pod template, and its own namespace.

``yaml11`` reads YAML the way the API server does, ``pss`` checks pod specs, ``objects`` checks whole objects,
``scope`` decides which API requests a job's Helm may make. All pure functions; ``clusterjobs.helm.proxy``
applies them to every request Helm sends.
"""
