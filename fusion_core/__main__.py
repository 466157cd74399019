from fusion_core.cli import main

raise SystemExit(main())
