from modelport.cli import main

raise SystemExit(main())
