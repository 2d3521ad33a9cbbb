FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gis ./gis
COPY api ./api
COPY layers ./layers
COPY data ./data
RUN pip install . && useradd --create-home tsunagu
USER tsunagu
EXPOSE 8000
CMD ["tsunagu", "serve", "--host", "0.0.0.0", "--port", "8000"]
