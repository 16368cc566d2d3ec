#!/bin/sh
# acpid's action for the power button in a tiny guest told to ignore it: it only says so.
echo "TINY-GUEST POWER-BUTTON ignored" > /dev/ttyS0
