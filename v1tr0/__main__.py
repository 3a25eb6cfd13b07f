from v1tr0.cli import main

raise SystemExit(main())
