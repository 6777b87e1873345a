"""Lambda handler of the AutoExportEventAction custom resource (the code bundled into the asset)."""
