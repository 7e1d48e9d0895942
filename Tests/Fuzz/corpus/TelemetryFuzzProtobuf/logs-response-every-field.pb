
body too deep