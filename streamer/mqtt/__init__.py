"""The MQTT sink: settings, Home Assistant discovery, the publisher."""
