// A line chart in plain SVG: the last `size` samples, rescaled to their maximum on every push.
const SVG = 'http://www.w3.org/2000/svg'

/** `fromZero: false` scales between the lowest and highest sample, for values that move little. */
export function lineChart (svg, { label, unit = '', size = 60, digits = 0, fromZero = true }) {
  const { width, height } = svg.viewBox.baseVal
  const top = 26
  const samples = []
  let updates = 0
  const element = (name, attributes) => {
    const node = document.createElementNS(SVG, name)
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value)
    return svg.appendChild(node)
  }
  for (const y of [top, (top + height) / 2, height - 1]) {
    element('line', { x1: 0, x2: width, y1: y, y2: y, class: 'grid' })
  }
  const area = element('path', { class: 'area' })
  const line = element('path', { class: 'line' })
  const title = element('text', { x: 8, y: 18, class: 'label' })
  const scale = element('text', { x: width - 8, y: 18, class: 'scale' })

  return function push (value) {
    samples.push(value)
    if (samples.length > size) samples.shift()
    const min = fromZero ? 0 : Math.min(...samples) * 0.98
    const max = Math.max(...samples) * (fromZero ? 1.2 : 1.02) || 1
    const x = (i) => (width * (size - samples.length + i)) / (size - 1)
    const y = (v) => height - 1 - ((height - 1 - top) * (v - min)) / (max - min)
    const points = samples.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`)
    line.setAttribute('d', `M${points.join('L')}`)
    area.setAttribute('d', `M${x(0).toFixed(1)},${height}L${points.join('L')}L${width},${height}Z`)
    title.textContent = `${label}: ${value.toFixed(digits)}${unit}`
    scale.textContent = `${fromZero ? '' : `${min.toFixed(digits)} – `}${max.toFixed(digits)}${unit}`
    svg.dataset.updates = String(++updates)
  }
}
