from witness.cli import main

raise SystemExit(main())
