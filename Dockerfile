FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# Pango and a Japanese font for the PDF area reports (WeasyPrint).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY gis ./gis
COPY api ./api
COPY layers ./layers
COPY data ./data
# /uploads: the shared upload folder of docker-compose.yml (a new named volume takes this owner).
RUN pip install . && useradd --create-home tsunagu && install -d -o tsunagu -m 0700 /uploads
USER tsunagu
EXPOSE 8000
# The same image runs the API (this command) and the job worker (`tsunagu worker`, which stops
# on SIGTERM after giving its running job back to the queue).
CMD ["tsunagu", "serve", "--host", "0.0.0.0", "--port", "8000"]
