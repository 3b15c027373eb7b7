from microrack.cli import main

raise SystemExit(main())
