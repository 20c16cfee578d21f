"""The live page (``hopdyn serve``) and the self-contained page of a finished
run (``hopdyn export-html``): a layer above the scenarios, beside the command
line."""
