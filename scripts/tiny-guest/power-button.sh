#!/bin/sh
# acpid's action for the power button in the tiny guest.
echo "TINY-GUEST POWER-BUTTON poweroff" > /dev/ttyS0
sync
poweroff -f
